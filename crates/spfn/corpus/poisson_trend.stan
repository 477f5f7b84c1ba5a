// family: time_series
// labels: time=trend
// given: time=time
// source: written for refinestat
data {
  int<lower=1> T;
  vector[T] time;
  array[T] int<lower=0> y;
}
parameters {
  real alpha;
  real beta;
}
model {
  alpha ~ normal(1, 1);
  beta ~ normal(0, 0.2);
  y ~ poisson_log(alpha + beta * time);
}
