// Inhibition-zone diameters of 6 penicillin samples on 24 plates (R lme4::Penicillin): crossed
// random effects of plate and sample, non-centred (lmer's diameter ~ (1 | plate) + (1 | sample)).
data {
  int<lower=0> N;
  vector[N] diameter;
  int<lower=1> J_plate;
  array[N] int<lower=1, upper=J_plate> plate;
  int<lower=1> J_sample;
  array[N] int<lower=1, upper=J_sample> sample;
}
parameters {
  real mu;
  real<lower=0> sigma_plate;
  real<lower=0> sigma_sample;
  vector[J_plate] z_plate;
  vector[J_sample] z_sample;
  real<lower=0> sigma;
}
model {
  mu ~ normal(20, 10);
  sigma_plate ~ student_t(3, 0, 2);
  sigma_sample ~ student_t(3, 0, 2);
  z_plate ~ std_normal();
  z_sample ~ std_normal();
  sigma ~ student_t(3, 0, 2);
  diameter ~ normal(mu + sigma_plate * z_plate[plate] + sigma_sample * z_sample[sample], sigma);
}
