// Timber volume of 31 black cherry trees (R datasets::trees): lognormal regression on log(Girth)
// and log(Height); geometry suggests volume ~ girth^2 * height.
data {
  int<lower=0> N;
  vector<lower=0>[N] Girth;
  vector<lower=0>[N] Height;
  vector<lower=0>[N] Volume;
}
transformed data {
  vector[N] log_girth = log(Girth);
  vector[N] log_height = log(Height);
}
parameters {
  real alpha;
  real beta_girth;
  real beta_height;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(-6, 5);
  beta_girth ~ normal(2, 1);
  beta_height ~ normal(1, 1);
  sigma ~ student_t(3, 0, 1);
  Volume ~ lognormal(alpha + beta_girth * log_girth + beta_height * log_height, sigma);
}
