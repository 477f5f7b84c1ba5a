// family: gaussian_process
// labels: latent=gp
// given: N=size(10,40) x=covariate(uniform)
// source: written for refinestat
data {
  int<lower=1> N;
  array[N] real x;
  array[N] int<lower=0, upper=1> z;
}
parameters {
  real<lower=0> rho;
  real<lower=0> alpha;
  real a;
  vector[N] eta;
}
model {
  matrix[N, N] L_K = cholesky_decompose(gp_exp_quad_cov(x, alpha, rho) + diag_matrix(rep_vector(1e-6, N)));
  rho ~ gamma(5, 5);
  alpha ~ normal(0, 1.5);
  a ~ normal(0, 1);
  eta ~ normal(0, 1);
  z ~ bernoulli_logit(a + L_K * eta);
}
