// family: time_series
// labels: time=seasonal
// given: time=time
// source: written for refinestat
data {
  int<lower=1> T;
  vector[T] time;
  vector[T] y;
}
parameters {
  real alpha;
  real beta;
  real a_s;
  real b_s;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 5);
  beta ~ normal(0, 1);
  a_s ~ normal(0, 2);
  b_s ~ normal(0, 2);
  sigma ~ normal(0, 2);
  y ~ normal(alpha + beta * time + a_s * sin(2 * pi() * time / 2.5) + b_s * cos(2 * pi() * time / 2.5), sigma);
}
