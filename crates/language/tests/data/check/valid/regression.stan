// Linear and logistic regression with a design matrix, offset/multiplier and compound assignment.
data {
  int<lower=0> N;
  int<lower=1> K;
  matrix[N, K] X;
  vector[N] y;
  array[N] int<lower=0, upper=1> z;
}
transformed data {
  real y_mean = mean(y);
  real<lower=0> y_sd = sd(y);
  vector[N] y_std = (y - y_mean) / y_sd;
  int K2 = K * 2;
  array[K2] int idx;
  for (k in 1:K2) {
    idx[k] = k %/% 2;
  }
}
parameters {
  real<offset=0, multiplier=10> alpha;
  vector[K] beta;
  real<lower=0> sigma;
  real gamma0;
}
transformed parameters {
  vector[N] eta = alpha + X * beta;
}
model {
  real acc = 0;
  alpha ~ normal(0, 10);
  beta ~ student_t(3, 0, 2.5);
  sigma ~ normal(0, 1) T[0, ];
  gamma0 ~ logistic(0, 1);
  y_std ~ normal(eta, sigma);
  z ~ bernoulli_logit(gamma0 + X[:, 1]);
  z ~ bernoulli(inv_logit(eta));
  acc += dot_product(beta, beta);
  acc *= 0.5;
  target += -acc;
  if (sigma > 10 || alpha < -100) {
    target += negative_infinity();
  } else {
    target += 0;
  }
}
generated quantities {
  vector[N] mu = eta * y_sd + y_mean;
  real r2 = variance(mu) / (variance(mu) + square(sigma * y_sd));
  array[N] real y_rep = normal_rng(mu, sigma * y_sd);
  int n_pos = 0;
  for (n in 1:N) {
    n_pos += y_rep[n] > 0 ? 1 : 0;
  }
}
