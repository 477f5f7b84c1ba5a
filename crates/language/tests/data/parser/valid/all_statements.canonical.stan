data {
    int<lower=0> N;
    array[N] int<lower=0> k;
    vector[N] y;
}

transformed data {
    array[3] int td1 = {1, 2, 3};
    int td2 = 0;
    matrix[2, 2] td3 = [[1, 0], [0, 1]];
    row_vector[3] td4 = [1, 2.5, 3e2];
    vector[3] td5 = [1, 2, 3]';
    for (l2 in 1:N) {
        td2 += k[l2];
        if (td2 > 100) break;
        else if (td2 < 0) {
            continue;
        } else {
            ;
        }
    }
    while (td2 > 0) {
        td2 -= 1;
    }
    for (l3 in td1) {
        print("v = ", l3);
    }
    if (N < 0) reject("N must be non-negative, got ", N);
}

parameters {
    real p2;
    real<lower=0> p1;
}

transformed parameters {
    vector[N] tp1 = p2 + rep_vector(0, N);
    tp1 .*= rep_vector(1, N);
    tp1 ./= rep_vector(1, N);
    tp1 *= 2;
    tp1 /= 2;
}

model {
    y ~ normal(tp1, p1) T[-10, 10];
    y[1] ~ normal(p2, p1) T[, 10];
    y[2] ~ normal(p2, p1) T[-10, ];
    target += normal_lpdf(y | p2, p1);
    target += std_normal_lupdf(p2 |);
    {
        real l1 = target();
        l1 = l1 * 2;
    }
}

generated quantities {
    int gq1 = 7 %/% 2 + 7 % 2;
    int gq2 = p2 >= 0 && p1 <= 1 || p2 != 1;
    real gq3 = p2 > 0 ? 1 : 0;
    real gq4 = -p2 ^ 2 + !(p2 == 0) - +p1 \ 1.5;
    real gq5 = y[2:N][1] + y[:2][1] + y[2:][1] + y[:][1] + sum(y[td1]);
    vector[N] gq6 = tp1 .^ 2;
}
