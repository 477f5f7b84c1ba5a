// family: hierarchical_binomial
// given: N=size(5,40) n=trials(10,200)
// source: after the surgical model of the BUGS examples (repository example)
data {
  int<lower=0> N;
  array[N] int<lower=0> r;
  array[N] int<lower=0> n;
}
parameters {
  real mu;
  real<lower=0> sigma;
  vector[N] b;
}
model {
  mu ~ normal(-1, 1);
  sigma ~ normal(0, 1);
  b ~ normal(mu, sigma);
  r ~ binomial_logit(n, b);
}
