// family: crossed_effects
// labels: model=irt
// given: K=size(3,12) N=size(60,200)
// source: written for refinestat (the Rasch model of the Stan user guide)
data {
  int<lower=1> N;
  int<lower=1> J;
  int<lower=1> K;
  array[N] int<lower=1, upper=J> person;
  array[N] int<lower=1, upper=K> item;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  vector[J] ability;
  vector[K] difficulty;
  real<lower=0> sigma_d;
}
model {
  ability ~ normal(0, 1);
  sigma_d ~ normal(0, 1);
  difficulty ~ normal(0, sigma_d);
  y ~ bernoulli_logit(ability[person] - difficulty[item]);
}
