// examples/logistic.stan plus a pointwise log_lik for PSIS-LOO in ArviZ
// (refinestat derives the pointwise log-likelihood from the model block itself).
data {
  int<lower=0> N;
  int<lower=1> K;
  matrix[N, K] X;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real alpha;
  vector[K] beta;
}
model {
  alpha ~ normal(0, 2.5);
  beta ~ normal(0, 2.5);
  y ~ bernoulli_logit(alpha + X * beta);
}
generated quantities {
  vector[N] log_lik;
  {
    vector[N] eta = alpha + X * beta;
    for (n in 1:N) {
      log_lik[n] = bernoulli_logit_lpmf(y[n] | eta[n]);
    }
  }
}
