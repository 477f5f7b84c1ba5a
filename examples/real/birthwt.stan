// Low birth weight (0/1) of 189 babies (R MASS::birthwt, bwt dropped): logistic regression on the
// mother's standardized age and weight, race (3 levels, white as baseline), smoking, premature
// labours, hypertension, uterine irritability and physician visits.
data {
  int<lower=0> N;
  array[N] int<lower=0, upper=1> low;
  vector[N] age;
  vector[N] lwt;
  array[N] int<lower=1, upper=3> race;
  vector[N] smoke;
  vector[N] ptl;
  vector[N] ht;
  vector[N] ui;
  vector[N] ftv;
}
transformed data {
  matrix[N, 7] X;
  for (n in 1:N) {
    X[n, 1] = (age[n] - mean(age)) / sd(age);
    X[n, 2] = (lwt[n] - mean(lwt)) / sd(lwt);
    X[n, 3] = smoke[n];
    X[n, 4] = ptl[n];
    X[n, 5] = ht[n];
    X[n, 6] = ui[n];
    X[n, 7] = ftv[n];
  }
}
parameters {
  real alpha;
  vector[7] beta;
  vector[2] beta_race;
}
transformed parameters {
  vector[3] race_effect;
  race_effect[1] = 0;
  race_effect[2] = beta_race[1];
  race_effect[3] = beta_race[2];
}
model {
  alpha ~ normal(0, 2.5);
  beta ~ normal(0, 1);
  beta_race ~ normal(0, 1);
  low ~ bernoulli_logit(alpha + X * beta + race_effect[race]);
}
