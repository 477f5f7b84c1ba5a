// Fertility of 47 Swiss provinces (R datasets::swiss): multiple linear regression on the five
// standardized socio-economic covariates.
data {
  int<lower=0> N;
  vector[N] Fertility;
  vector[N] Agriculture;
  vector[N] Examination;
  vector[N] Education;
  vector[N] Catholic;
  vector[N] Infant_Mortality;
}
transformed data {
  matrix[N, 5] X;
  for (n in 1:N) {
    X[n, 1] = (Agriculture[n] - mean(Agriculture)) / sd(Agriculture);
    X[n, 2] = (Examination[n] - mean(Examination)) / sd(Examination);
    X[n, 3] = (Education[n] - mean(Education)) / sd(Education);
    X[n, 4] = (Catholic[n] - mean(Catholic)) / sd(Catholic);
    X[n, 5] = (Infant_Mortality[n] - mean(Infant_Mortality)) / sd(Infant_Mortality);
  }
}
parameters {
  real alpha;
  vector[5] beta;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(70, 20);
  beta ~ normal(0, 10);
  sigma ~ student_t(3, 0, 10);
  Fertility ~ normal(alpha + X * beta, sigma);
}
