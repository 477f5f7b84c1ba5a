// family: crossed_effects
// labels: model=irt
// given: K=size(3,12) N=size(60,200)
// source: written for refinestat
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
  vector<lower=0>[K] disc;
}
model {
  ability ~ normal(0, 1);
  difficulty ~ normal(0, 1);
  disc ~ lognormal(0, 0.3);
  y ~ bernoulli_logit(disc[item] .* (ability[person] - difficulty[item]));
}
