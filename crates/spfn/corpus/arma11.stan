// family: time_series
// labels: time=arma11
// source: written for refinestat (ARMA(1,1) of the Stan user guide)
data {
  int<lower=3> T;
  vector[T] y;
}
parameters {
  real mu;
  real<lower=-1, upper=1> phi;
  real<lower=-1, upper=1> theta;
  real<lower=0> sigma;
}
model {
  real err = 0;
  real prev = 0;
  mu ~ normal(0, 2);
  phi ~ uniform(-1, 1);
  theta ~ uniform(-1, 1);
  sigma ~ normal(0, 2);
  for (t in 1:T) {
    real nu = mu + phi * prev + theta * err;
    y[t] ~ normal(nu, sigma);
    err = y[t] - nu;
    prev = y[t];
  }
}
