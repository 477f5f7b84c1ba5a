// family: gaussian_process
// labels: latent=gp
// given: N=size(10,40) x=covariate(uniform)
// source: written for refinestat
data {
  int<lower=1> N;
  array[N] real x;
  array[N] int<lower=0> k;
}
parameters {
  real<lower=0> rho;
  real<lower=0> alpha;
  vector[N] f_tilde;
}
model {
  matrix[N, N] cov = gp_exp_quad_cov(x, alpha, rho) + diag_matrix(rep_vector(1e-6, N));
  matrix[N, N] L_cov = cholesky_decompose(cov);
  vector[N] f = L_cov * f_tilde;
  rho ~ gamma(5, 5);
  alpha ~ normal(0, 1);
  f_tilde ~ normal(0, 1);
  k ~ poisson_log(1 + f);
}
