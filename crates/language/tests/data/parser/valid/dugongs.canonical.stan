data {
    int<lower=0> N;
    array[N] real Y;
    array[N] real x;
}

parameters {
    real p1;
    real p2;
    real<lower=.5, upper=1> p3;
    real<lower=0> p4;
}

transformed parameters {
    real tp1;
    real tp2;
    tp1 = 1 / sqrt(p4);
    tp2 = logit(p3);
}

model {
    for (l2 in 1:N) {
        real l1;
        l1 = p1 - p2 * pow(p3, x[l2]);
        Y[l2] ~ normal(l1, tp1);
    }
    p1 ~ normal(0.0, 1000);
    p2 ~ normal(0.0, 1000);
    p3 ~ uniform(.5, 1);
    p4 ~ gamma(.0001, .0001);
}
