data {
    int<lower=2> N;
    vector[N] y;
}

parameters {
    real p1;
    real<lower=-1, upper=1> p2;
    real<lower=0> p3;
}

model {
    y[2:N] ~ normal(p1 + p2 * y[1:N - 1], p3);
    p1 ~ normal(0, 1);
    p2 ~ uniform(-1, 1);
    p3 ~ exponential(1);
}

generated quantities {
    real gq1 = normal_rng(p1 + p2 * y[N], p3);
}
