data {
    int<lower=0> N;
    array[N] int<lower=0> y;
    vector<lower=0>[N] exposure;
    vector[N] x;
}

transformed data {
    vector[N] td1 = log(exposure);
}

parameters {
    real p1;
    real p2;
}

model {
    p1 ~ normal(0, 2.5);
    p2 ~ normal(0, 1);
    y ~ poisson_log(td1 + p1 + p2 * x);
}

generated quantities {
    array[N] int gq1 = poisson_log_rng(td1 + p1 + p2 * x);
}
