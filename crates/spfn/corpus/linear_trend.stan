// family: time_series
// labels: time=trend
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
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 5);
  beta ~ normal(0, 1);
  sigma ~ normal(0, 2);
  y ~ normal(alpha + beta * time, sigma);
}
