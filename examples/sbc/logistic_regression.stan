// Logistic regression for simulation-based calibration: N = 50 rows, K = 2 predictors, the design
// X fixed (make_logistic_data.py), the outcomes y simulated. Priors are proper and weakly
// informative on the log-odds scale.
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
  alpha ~ normal(0, 1.5);
  beta ~ normal(0, 1);
  y ~ bernoulli_logit(alpha + X * beta);
}
