// Matrix-vector-activate unit: per pixel NF = MH/PE output folds x SF = MW/SIMD input folds, one
// fold per cycle. Stage 1 reads the input (first output fold) or the buffered input vector, and
// the weight/threshold ROMs (registered reads); stage 2 accumulates and applies the thresholds.
module bnncc_mvau #(
    parameter MW = 4, parameter MH = 4, parameter PE = 1, parameter SIMD = 1, parameter PIXELS = 1,
    parameter IN_BITS = 1, parameter IN_ENC = 0, parameter KIND = 0, parameter W_BITS = 1,
    parameter ACC_BITS = 8, parameter N_THR = 0, parameter OUT_BITS = 8, parameter OUT_ENC = 1,
    parameter OUT_MIN = 0, parameter POW2_TERMS = 1, parameter POW2_SHIFT_BITS = 1,
    parameter W_FILE = "w.mem", parameter T_FILE = "t.mem", parameter D_FILE = "d.mem") (
    input wire clk, input wire rst,
    input wire [SIMD*IN_BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [PE*OUT_BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam NF = MH / PE, SF = MW / SIMD;
    localparam NT = N_THR > 0 ? N_THR : 1;
    localparam FW = $clog2(NF * SF + 1), PW = $clog2(PIXELS + 1);
    localparam TERM = 2 + POW2_SHIFT_BITS;

    reg [PE*SIMD*W_BITS-1:0] wrom [0:NF*SF-1];
    reg [PE*NT*ACC_BITS-1:0] trom [0:NF-1];
    reg [PE-1:0] drom [0:NF-1];
    initial begin
        $readmemh(W_FILE, wrom);
        $readmemh(T_FILE, trom);
        $readmemh(D_FILE, drom);
    end

    reg [SIMD*IN_BITS-1:0] vector [0:SF-1];
    reg [FW-1:0] sf, nf;
    reg [PW-1:0] px;
    reg out_valid_r;
    reg [PE*OUT_BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    wire need_in = nf == 0;
    wire fire = !stall && (!need_in || in_valid);
    assign in_ready = !stall && need_in;
    assign out_valid = out_valid_r;
    assign out_data = out_r;

    reg s1_valid, s1_first, s1_last;
    reg [SIMD*IN_BITS-1:0] x_q;
    reg [PE*SIMD*W_BITS-1:0] w_q;
    reg [PE*NT*ACC_BITS-1:0] t_q;
    reg [PE-1:0] d_q;
    always @(posedge clk) begin
        if (rst) begin
            s1_valid <= 0; sf <= 0; nf <= 0; px <= 0;
        end else if (!stall) begin
            s1_valid <= fire;
            if (fire) begin
                x_q <= need_in ? in_data : vector[sf];
                if (need_in) vector[sf] <= in_data;
                w_q <= wrom[nf * SF + sf];
                t_q <= trom[nf];
                d_q <= drom[nf];
                s1_first <= sf == 0;
                s1_last <= sf == SF - 1;
                if (sf == SF - 1) begin
                    sf <= 0;
                    if (nf == NF - 1) begin
                        nf <= 0;
                        px <= (px == PIXELS - 1) ? 0 : px + 1;
                    end else nf <= nf + 1;
                end else sf <= sf + 1;
            end
        end
    end

    wire [PE*OUT_BITS-1:0] activated;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            // one process per PE, sensitive to its own accumulator only (an array would wake every PE)
            reg signed [ACC_BITS-1:0] acc, sum, x, w, term, next;
            reg [ACC_BITS:0] count;
            reg [TERM-1:0] code;
            reg [W_BITS-1:0] wc;
            wire [SIMD-1:0] agree = ~(x_q[SIMD-1:0] ^ w_q[p*SIMD +: SIMD]);  // XNOR kind: 1-bit lanes
            integer s, t;
            always @* begin
                sum = 0;
                if (KIND == `BNNCC_W_XNOR) begin
                    for (s = 0; s < SIMD; s = s + 1) sum = sum + agree[s];
                end else begin
                    for (s = 0; s < SIMD; s = s + 1) begin
                        wc = w_q[(p*SIMD + s)*W_BITS +: W_BITS];
                        if (IN_ENC == `BNNCC_ENC_BIPOLAR) x = x_q[s*IN_BITS] ? 1 : -1;
                        else if (IN_ENC == `BNNCC_ENC_SIGNED) x = $signed(x_q[s*IN_BITS +: IN_BITS]);
                        else x = $signed({1'b0, x_q[s*IN_BITS +: IN_BITS]});
                        if (KIND == `BNNCC_W_BIPOLAR) term = wc[0] ? x : -x;
                        else if (KIND == `BNNCC_W_TERNARY) term = (wc[1:0] == 2'b01) ? x : ((wc[1:0] == 2'b11) ? -x : 0);
                        else if (KIND == `BNNCC_W_INT) term = x * $signed(wc);
                        else if (KIND == `BNNCC_W_POW2) begin  // signed shifts, no multiplier
                            term = 0;
                            for (t = 0; t < POW2_TERMS; t = t + 1) begin
                                code = wc[t*TERM +: TERM];
                                if (code[1:0] == 2'b01) term = term + (x <<< code[TERM-1:2]);
                                else if (code[1:0] == 2'b10) term = term - (x <<< code[TERM-1:2]);
                            end
                        end else begin                                                  // adder: -|x - w|
                            w = $signed(wc);
                            term = x - w;
                            term = term < 0 ? term : -term;
                        end
                        sum = sum + term;
                    end
                end
                next = (s1_first ? 0 : acc) + sum;
                count = 0;
                for (t = 0; t < N_THR; t = t + 1)
                    count = count + (d_q[p] ? (next <= $signed(t_q[(p*NT + t)*ACC_BITS +: ACC_BITS]))
                                             : (next >= $signed(t_q[(p*NT + t)*ACC_BITS +: ACC_BITS])));
            end
            assign activated[p*OUT_BITS +: OUT_BITS] = N_THR == 0 ? next[OUT_BITS-1:0]
                : (OUT_ENC == `BNNCC_ENC_BIPOLAR ? count[OUT_BITS-1:0] : count + OUT_MIN);
            always @(posedge clk) if (!stall && s1_valid) acc <= next;
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) out_valid_r <= 0;
        else if (!stall) begin
            out_valid_r <= s1_valid && s1_last;
            if (s1_valid && s1_last) out_r <= activated;
        end
    end
endmodule
