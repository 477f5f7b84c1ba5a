// family: change_point
// labels: time=change_point
// source: written for refinestat
data {
  int<lower=2> T;
  vector[T] y;
}
parameters {
  real mu1;
  real mu2;
  real<lower=0> sigma;
  real<lower=1, upper=T> tau;
}
model {
  mu1 ~ normal(0, 5);
  mu2 ~ normal(0, 5);
  sigma ~ normal(0, 2);
  for (t in 1:T) {
    y[t] ~ normal(t < tau ? mu1 : mu2, sigma);
  }
}
