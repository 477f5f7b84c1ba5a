// Reaction times of 18 subjects over 10 days of sleep deprivation (R lme4::sleepstudy): varying
// intercepts and slopes per subject, correlated, non-centred (lmer's Reaction ~ Days + (Days | Subject)).
data {
  int<lower=0> N;
  vector[N] Reaction;
  vector[N] Days;
  int<lower=1> J_Subject;
  array[N] int<lower=1, upper=J_Subject> Subject;
}
parameters {
  real alpha;
  real beta;
  vector<lower=0>[2] tau;
  cholesky_factor_corr[2] L;
  matrix[2, J_Subject] z;
  real<lower=0> sigma;
}
transformed parameters {
  matrix[2, J_Subject] u = diag_pre_multiply(tau, L) * z;
}
model {
  vector[N] mu;
  for (n in 1:N) {
    mu[n] = alpha + u[1, Subject[n]] + (beta + u[2, Subject[n]]) * Days[n];
  }
  alpha ~ normal(250, 50);
  beta ~ normal(0, 20);
  tau[1] ~ student_t(3, 0, 30);
  tau[2] ~ student_t(3, 0, 10);
  L ~ lkj_corr_cholesky(2);
  to_vector(z) ~ std_normal();
  sigma ~ student_t(3, 0, 30);
  Reaction ~ normal(mu, sigma);
}
