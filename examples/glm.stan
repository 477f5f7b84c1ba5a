// Peregrine brood successes C out of N pairs per year: binomial-logit GLM, quadratic in year
// (posteriordb GLM_Binomial_data-GLM_Binomial_model).
data {
  int<lower=0> nyears;
  array[nyears] int<lower=0> C;
  array[nyears] int<lower=0> N;
  array[nyears] real year;
}
transformed data {
  array[nyears] real year_squared;
  for (i in 1:nyears) {
    year_squared[i] = year[i] * year[i];
  }
}
parameters {
  real alpha;
  real beta1;
  real beta2;
}
model {
  vector[nyears] logit_p;
  for (i in 1:nyears) {
    logit_p[i] = alpha + beta1 * year[i] + beta2 * year_squared[i];
  }
  alpha ~ normal(0, 100);
  beta1 ~ normal(0, 100);
  beta2 ~ normal(0, 100);
  C ~ binomial_logit(N, logit_p);
}
