// New CBPP cases out of herd size, 15 herds over 4 periods (R lme4::cbpp): binomial with trials,
// period effects (period 1 as baseline) and a non-centred varying intercept per herd
// (glmer's cbind(incidence, size - incidence) ~ period + (1 | herd)).
data {
  int<lower=0> N;
  int<lower=1> J_herd;
  array[N] int<lower=1, upper=J_herd> herd;
  array[N] int<lower=0> incidence;
  array[N] int<lower=0> size;
  int<lower=1> J_period;
  array[N] int<lower=1, upper=J_period> period;
}
parameters {
  real alpha;
  vector[J_period - 1] b_period;
  real<lower=0> sigma_herd;
  vector[J_herd] z_herd;
}
transformed parameters {
  vector[J_period] period_effect = append_row(0, b_period);
}
model {
  alpha ~ normal(-2, 2);
  b_period ~ normal(0, 1.5);
  sigma_herd ~ student_t(3, 0, 1);
  z_herd ~ std_normal();
  incidence ~ binomial_logit(size, alpha + period_effect[period] + sigma_herd * z_herd[herd]);
}
