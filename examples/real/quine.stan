// Days absent from school of 146 children (R MASS::quine): negative binomial regression on
// ethnicity, sex, age group and learner status (first level of each as baseline); the counts vary
// far more than their mean, so a Poisson model would be badly overconfident.
data {
  int<lower=0> N;
  int<lower=1> J_Eth;
  array[N] int<lower=1, upper=J_Eth> Eth;
  int<lower=1> J_Sex;
  array[N] int<lower=1, upper=J_Sex> Sex;
  int<lower=1> J_Age;
  array[N] int<lower=1, upper=J_Age> Age;
  int<lower=1> J_Lrn;
  array[N] int<lower=1, upper=J_Lrn> Lrn;
  array[N] int<lower=0> Days;
}
parameters {
  real alpha;
  vector[J_Eth - 1] b_eth;
  vector[J_Sex - 1] b_sex;
  vector[J_Age - 1] b_age;
  vector[J_Lrn - 1] b_lrn;
  real<lower=0> phi;
}
transformed parameters {
  vector[J_Eth] eth_effect = append_row(0, b_eth);
  vector[J_Sex] sex_effect = append_row(0, b_sex);
  vector[J_Age] age_effect = append_row(0, b_age);
  vector[J_Lrn] lrn_effect = append_row(0, b_lrn);
}
model {
  alpha ~ normal(2.5, 1.5);
  b_eth ~ normal(0, 1);
  b_sex ~ normal(0, 1);
  b_age ~ normal(0, 1);
  b_lrn ~ normal(0, 1);
  phi ~ gamma(2, 0.5);
  Days ~ neg_binomial_2_log(alpha + eth_effect[Eth] + sex_effect[Sex] + age_effect[Age]
                            + lrn_effect[Lrn], phi);
}
