// Multivariate normal with a covariance matrix parameter and a while loop in transformed data.
data {
  int<lower=1> K;
  int<lower=0> N;
  array[N] vector[K] x;
}
transformed data {
  vector[K] mu0 = rep_vector(0, K);
  int steps = 0;
  real v = 1;
  while (v > 0.01) {
    v = v / 2;
    steps += 1;
  }
}
parameters {
  vector[K] mu;
  cov_matrix[K] Sigma;
  positive_ordered[2] cut;
}
model {
  mu ~ normal(0, 5);
  x ~ multi_normal(mu, Sigma);
  cut ~ exponential(1);
  target += multi_normal_lpdf(mu | mu0, diag_matrix(rep_vector(25, K)));
  {
    matrix[K, K] L = cholesky_decompose(Sigma);
    x ~ multi_normal_cholesky(mu, L);
  }
}
generated quantities {
  vector[K] draw = multi_normal_rng(mu, Sigma);
  matrix[2, 2] Lc = lkj_corr_cholesky_rng(2, 1.5);
  vector[3] w = dirichlet_rng(rep_vector(1, 3));
  real m = max({1.0, 2.0, 3.0});
  row_vector[3] rv = [1, 2, 3];
  vector[3] cv = [1, 2, 3]';
  matrix[2, 3] M = [[1, 2, 3], [4, 5, 6]];
  real total = sum(M) + num_elements(M) + rows(M) + cols(M) + size(x);
  print("draw: ", draw, " total = ", total);
}
