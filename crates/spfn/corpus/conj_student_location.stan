// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  real mu;
}
model {
  mu ~ normal(2, 1);
  y ~ student_t(6, mu, 1);
}
