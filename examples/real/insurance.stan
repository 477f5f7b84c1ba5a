// Car insurance claims in 64 cells (R MASS::Insurance): Poisson regression with exposure offset
// log(Holders) and the district, car group and driver age factors (first level as baseline).
data {
  int<lower=0> N;
  int<lower=1> J_District;
  array[N] int<lower=1, upper=J_District> District;
  int<lower=1> J_Group;
  array[N] int<lower=1, upper=J_Group> Group;
  int<lower=1> J_Age;
  array[N] int<lower=1, upper=J_Age> Age;
  vector<lower=0>[N] Holders;
  array[N] int<lower=0> Claims;
}
transformed data {
  vector[N] log_exposure = log(Holders);
}
parameters {
  real alpha;
  vector[J_District - 1] b_district;
  vector[J_Group - 1] b_group;
  vector[J_Age - 1] b_age;
}
transformed parameters {
  vector[J_District] district_effect = append_row(0, b_district);
  vector[J_Group] group_effect = append_row(0, b_group);
  vector[J_Age] age_effect = append_row(0, b_age);
}
model {
  alpha ~ normal(-2, 2);
  b_district ~ normal(0, 1);
  b_group ~ normal(0, 1);
  b_age ~ normal(0, 1);
  Claims ~ poisson_log(log_exposure + alpha + district_effect[District] + group_effect[Group]
                       + age_effect[Age]);
}
