// family: change_point
// labels: time=change_point
// source: written for refinestat
data {
  int<lower=2> T;
  vector[T] y;
}
parameters {
  real a;
  real b1;
  real b2;
  real<lower=0> sigma;
  real<lower=1, upper=T> cp;
}
model {
  a ~ normal(0, 5);
  b1 ~ normal(0, 0.5);
  b2 ~ normal(0, 0.5);
  sigma ~ normal(0, 2);
  for (t in 1:T) {
    y[t] ~ normal(t < cp ? a + b1 * t : a + b1 * cp + b2 * (t - cp), sigma);
  }
}
