// family: state_space
// labels: time=latent_ar1
// source: written for refinestat
data {
  int<lower=2> T;
  array[T] int<lower=0> y;
}
parameters {
  vector[T] z;
  real mu;
  real<lower=-1, upper=1> rho;
  real<lower=0> tau;
}
model {
  mu ~ normal(1, 1);
  rho ~ uniform(-1, 1);
  tau ~ normal(0, 0.5);
  z[1] ~ normal(0, tau);
  for (t in 2:T) {
    z[t] ~ normal(rho * z[t - 1], tau);
  }
  y ~ poisson_log(mu + z);
}
