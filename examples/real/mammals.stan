// Brain weight (g) of 62 mammal species given body weight (kg) (R MASS::mammals): lognormal
// regression on log(body), the allometric law brain = a * body^b with multiplicative error.
data {
  int<lower=0> N;
  vector<lower=0>[N] body;
  vector<lower=0>[N] brain;
}
transformed data {
  vector[N] log_body = log(body);
}
parameters {
  real alpha;
  real beta;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(2, 3);
  beta ~ normal(0.75, 0.5);
  sigma ~ student_t(3, 0, 1);
  brain ~ lognormal(alpha + beta * log_body, sigma);
}
