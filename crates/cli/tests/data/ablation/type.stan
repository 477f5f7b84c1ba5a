parameters {
  real mu;
  real<lower=0> tau;
  vector[J] theta;
}
transformed parameters {
  real m = theta;
}
model {
  mu ~ normal(0, 5);
  tau ~ normal(0, 5);
  theta ~ normal(mu, tau);
  y ~ normal(theta, sigma);
}
