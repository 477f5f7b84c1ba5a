// family: time_series
// labels: time=ar1
// source: written for refinestat (AR(1) of the Stan user guide)
data {
  int<lower=3> T;
  vector[T] y;
}
parameters {
  real alpha;
  real<lower=-1, upper=1> beta;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 2);
  beta ~ uniform(-1, 1);
  sigma ~ normal(0, 2);
  y[1] ~ normal(alpha, sigma);
  for (t in 2:T) {
    y[t] ~ normal(alpha + beta * y[t - 1], sigma);
  }
}
