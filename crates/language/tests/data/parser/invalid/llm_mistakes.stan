data {
  int N;
  vector[N] y
  real<lower=0> sigma_prior = 1;
}
parameters {
  real mu;
  real<lower=0> sigma ~ normal(0, 1);
}
model {
  for i in range(N):
    y[i] ~ normal(mu, sigma)
  if mu > 0 {
    mu ~ normal(0, 1);
  } elif (mu < 0) {
    mu ~ normal(0, 2);
  }
  y ~ normal(mu, sigma), 
  target += normal_lpdf(y, mu, sigma);
  sigma = sigma ** 2;
}
