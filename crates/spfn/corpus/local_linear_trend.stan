// family: state_space
// labels: time=local_trend
// source: written for refinestat
data {
  int<lower=3> T;
  vector[T] y;
}
parameters {
  vector[T] level;
  real slope;
  real<lower=0> tau;
  real<lower=0> sigma;
}
model {
  slope ~ normal(0, 0.5);
  tau ~ normal(0, 0.5);
  sigma ~ normal(0, 1);
  level[1] ~ normal(0, 5);
  for (t in 2:T) {
    level[t] ~ normal(level[t - 1] + slope, tau);
  }
  y ~ normal(level, sigma);
}
