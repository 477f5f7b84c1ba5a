// Varying intercepts and slopes with an LKJ prior on their correlation.
data {
  int<lower=0> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> group;
  vector[N] x;
  vector[N] y;
}
parameters {
  vector[2] beta;
  array[J] vector[2] z;
  cholesky_factor_corr[2] L_Omega;
  vector<lower=0>[2] tau;
  real<lower=0> sigma;
}
transformed parameters {
  array[J] vector[2] b;
  for (j in 1:J) {
    b[j] = beta + diag_pre_multiply(tau, L_Omega) * z[j];
  }
}
model {
  vector[N] mu;
  beta ~ normal(0, 5);
  tau ~ cauchy(0, 2.5);
  L_Omega ~ lkj_corr_cholesky(2);
  for (j in 1:J) {
    z[j] ~ std_normal();
  }
  for (n in 1:N) {
    mu[n] = b[group[n], 1] + b[group[n], 2] * x[n];
  }
  sigma ~ exponential(1);
  y ~ normal(mu, sigma);
}
generated quantities {
  vector[N] log_lik;
  for (n in 1:N) {
    log_lik[n] = normal_lpdf(y[n] | b[group[n], 1] + b[group[n], 2] * x[n], sigma);
  }
}
