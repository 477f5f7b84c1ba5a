// family: state_space
// labels: time=local_level
// source: written for refinestat (the local level model)
data {
  int<lower=2> T;
  vector[T] y;
}
parameters {
  vector[T] mu;
  real<lower=0> tau;
  real<lower=0> sigma;
}
model {
  tau ~ normal(0, 1);
  sigma ~ normal(0, 1);
  mu[1] ~ normal(0, 5);
  for (t in 2:T) {
    mu[t] ~ normal(mu[t - 1], tau);
  }
  y ~ normal(mu, sigma);
}
