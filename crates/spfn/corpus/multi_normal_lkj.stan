// family: multivariate
// given: K=size(2,4)
// source: written for refinestat (the multivariate normal with LKJ prior, Stan user guide)
data {
  int<lower=1> N;
  int<lower=2> K;
  array[N] vector[K] y;
}
parameters {
  vector[K] mu;
  vector<lower=0>[K] tau;
  cholesky_factor_corr[K] L;
}
model {
  mu ~ normal(0, 3);
  tau ~ normal(0, 2);
  L ~ lkj_corr_cholesky(2);
  y ~ multi_normal_cholesky(mu, diag_pre_multiply(tau, L));
}
