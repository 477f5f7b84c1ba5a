// Two-component normal mixture with a simplex of weights and ordered means.
data {
  int<lower=1> N;
  int<lower=1> K;
  vector[N] y;
}
parameters {
  simplex[K] theta;
  ordered[K] mu;
  vector<lower=0>[K] sigma;
}
model {
  vector[K] lps;
  mu ~ normal(0, 10);
  sigma ~ lognormal(0, 2);
  theta ~ dirichlet(rep_vector(2.0, K));
  for (n in 1:N) {
    for (k in 1:K) {
      lps[k] = log(theta[k]) + normal_lpdf(y[n] | mu[k], sigma[k]);
    }
    target += log_sum_exp(lps);
  }
}
generated quantities {
  array[N] real y_rep;
  for (n in 1:N) {
    int z = categorical_rng(theta);
    y_rep[n] = normal_rng(mu[z], sigma[z]);
  }
}
