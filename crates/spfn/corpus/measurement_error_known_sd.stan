// family: measurement_error
// labels: model=meta_analysis
// given: N=size(10,80)
// source: written for refinestat
data {
  int<lower=1> N;
  vector<lower=0>[N] se;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[N] theta;
}
model {
  mu ~ normal(0, 5);
  tau ~ normal(0, 2);
  theta ~ normal(mu, tau);
  y ~ normal(theta, se);
}
