data {
  int<lower=0> N;
  int<lower=1> K;
  matrix[N, K] X;
  vector[N] y;
  cov_matrix[K] Omega;
}
transformed data {
  matrix[K, K] L_Omega = cholesky_decompose(Omega);
  row_vector[K] x_bar;
  for (k in 1:K) x_bar[k] = mean(col(X, k));
}
parameters {
  real alpha;
  vector[K] beta;
  real<lower=0> sigma;
  simplex[3] w;
  positive_ordered[2] cuts;
}
transformed parameters {
  vector[N] mu = alpha + X * beta;
}
model {
  beta ~ multi_normal_cholesky(rep_vector(0, K), L_Omega);
  alpha ~ normal(0, 10);
  sigma ~ gamma(2, 0.1);
  w ~ dirichlet([1, 1, 1]');
  cuts ~ exponential(1);
  y ~ normal(mu, sigma);
}
generated quantities {
  real r2 = 1 - variance(y - mu) / variance(y);
  matrix[K, K] outer = beta * beta';
  array[2, 3] real grid;
  for (i in 1:2) for (j in 1:3) grid[i, j] = i * j;
  int flag = 0;
  while (flag < 3) flag += 1;
}
