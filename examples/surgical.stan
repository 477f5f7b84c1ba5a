// Surgical mortality r deaths out of n operations in N hospitals: hierarchical binomial-logit
// (posteriordb surgical_data-surgical_model).
data {
  int<lower=0> N;
  array[N] int<lower=0> r;
  array[N] int<lower=0> n;
}
parameters {
  real mu;
  real<lower=0> sigmasq;
  vector[N] b;
}
transformed parameters {
  real<lower=0> sigma = sqrt(sigmasq);
  vector[N] p = inv_logit(b);
}
model {
  mu ~ normal(0.0, 1000.0);
  sigmasq ~ inv_gamma(0.001, 0.001);
  b ~ normal(mu, sigma);
  r ~ binomial_logit(n, b);
}
