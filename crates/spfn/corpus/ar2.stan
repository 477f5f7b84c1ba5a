// family: time_series
// labels: time=ar2
// source: written for refinestat
data {
  int<lower=3> T;
  vector[T] y;
}
parameters {
  real alpha;
  real<lower=-0.5, upper=0.5> b1;
  real<lower=-0.4, upper=0.4> b2;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 2);
  sigma ~ normal(0, 2);
  y[1] ~ normal(alpha, sigma);
  y[2] ~ normal(alpha + b1 * y[1], sigma);
  for (t in 3:T) {
    y[t] ~ normal(alpha + b1 * y[t - 1] + b2 * y[t - 2], sigma);
  }
}
