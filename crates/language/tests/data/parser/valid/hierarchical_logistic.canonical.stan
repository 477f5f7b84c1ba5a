data {
    int<lower=1> J;
    int<lower=1> N;
    array[N] int<lower=0> successes;
    array[N] int<lower=0> trials;
    array[N] int<lower=1, upper=J> group;
}

parameters {
    real p1;
    real<lower=0> p2;
    vector<offset=p1, multiplier=p2>[J] p3;
}

model {
    p1 ~ normal(0, 1.5);
    p2 ~ student_t(3, 0, 1);
    p3 ~ normal(p1, p2);
    successes ~ binomial_logit(trials, p3[group]);
}

generated quantities {
    vector[J] gq1 = inv_logit(p3);
}
