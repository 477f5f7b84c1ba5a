// Counts declared real, a typo in a distribution name, and a probability on the logit scale.
data {
  int<lower=0> nyears;
  array[nyears] real C;
  array[nyears] int<lower=0> N;
  array[nyears] real year;
}
parameters {
  real alpha;
  real beta1;
}
model {
  vector[nyears] logit_p;
  for (i in 1:nyears) {
    logit_p[i] = alpha + beta1 * year[i];
  }
  alpha ~ normal(0, 100);
  beta1 ~ normall(0, 100);
  C ~ binomial_logit(N, logit_p);
  N ~ binomial(N, logit_p);
}
