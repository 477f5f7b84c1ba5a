// Girls who reached menarche out of Total in 25 age groups (R MASS::menarche): binomial with
// trials, logit link, linear in age.
data {
  int<lower=0> N;
  vector[N] Age;
  array[N] int<lower=0> Total;
  array[N] int<lower=0> Menarche;
}
transformed data {
  vector[N] age_c = Age - 13;
}
parameters {
  real alpha;
  real beta;
}
model {
  alpha ~ normal(0, 2.5);
  beta ~ normal(0, 2.5);
  Menarche ~ binomial_logit(Total, alpha + beta * age_c);
}
