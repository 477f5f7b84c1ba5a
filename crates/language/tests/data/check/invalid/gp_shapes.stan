// Shape mistakes in a Gaussian process: wrong argument counts and kinds, mismatched sizes.
data {
  int<lower=1> N;
  array[N] real x;
  vector[N] y;
}
parameters {
  real<lower=0> rho;
  real<lower=0> alpha;
  real<lower=0> sigma;
}
model {
  matrix[N, N] K = gp_exp_quad_cov(x, alpha);
  matrix[N, N] L = cholesky_decompose(K);
  vector[N + 1] mu = rep_vector(0, N + 1);
  rho ~ gamma(25);
  y ~ multi_normal_cholesky(mu, L);
  y ~ multi_normal(rep_vector(0, N), sigma);
  y ~ normal(x * rho, sigma);
}
