// family: time_series
// labels: time=ma1
// source: written for refinestat (MA(1) of the Stan user guide)
data {
  int<lower=3> T;
  vector[T] y;
}
parameters {
  real mu;
  real<lower=-1, upper=1> theta;
  real<lower=0> sigma;
}
model {
  real err = 0;
  mu ~ normal(0, 5);
  theta ~ uniform(-1, 1);
  sigma ~ normal(0, 2);
  for (t in 1:T) {
    real nu = mu + theta * err;
    y[t] ~ normal(nu, sigma);
    err = y[t] - nu;
  }
}
