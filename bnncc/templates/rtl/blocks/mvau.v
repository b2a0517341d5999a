// Matrix-vector-activate unit: per pixel NF = MH/PE output folds x SF = MW/SIMD input folds, one
// fold per cycle, in five pipeline stages, so that no register-to-register path holds more than a
// memory read or a 16-input sum: (1) the input word (first output fold) or the buffered input vector,
// and the weight row (registered ROM read); (2) both registered again, away from the block RAM;
// (3) per PE lane, sums of groups of up to 16 products (popcounts for XNOR); (4) accumulation of the
// groups, the last input fold registering the result together with its threshold row; (5) the
// threshold compare into the output register. With REQUANT, stage 5 computes the code as
// clip((M * acc + B) >>> SHIFT, 0, N_THR) from the channel's M and B instead of comparing, then adds
// the channel's FIXES corrections: Y where the accumulator equals X (bnncc.hw.requant).
// Addresses are counters: no multiplier is spent on them.
module bnncc_mvau #(
    parameter MW = 4, parameter MH = 4, parameter PE = 1, parameter SIMD = 1, parameter PIXELS = 1,
    parameter IN_BITS = 1, parameter IN_ENC = 0, parameter KIND = 0, parameter W_BITS = 1,
    parameter ACC_BITS = 8, parameter N_THR = 0, parameter OUT_BITS = 8, parameter OUT_ENC = 1,
    parameter OUT_MIN = 0, parameter POW2_TERMS = 1, parameter POW2_SHIFT_BITS = 1,
    parameter REQUANT = 0, parameter SHIFT = 0, parameter M_BITS = 1, parameter B_BITS = 1, parameter PROD_BITS = 2,
    parameter FIXES = 0, parameter FIX_BITS = 1,
    parameter W_FILE = "w.mem", parameter T_FILE = "t.mem", parameter D_FILE = "d.mem",
    parameter M_FILE = "m.mem", parameter B_FILE = "b.mem", parameter X_FILE = "x.mem", parameter Y_FILE = "y.mem",
    parameter W_STYLE = "auto", parameter T_STYLE = "auto", parameter D_STYLE = "auto",
    parameter M_STYLE = "auto", parameter B_STYLE = "auto", parameter X_STYLE = "auto", parameter Y_STYLE = "auto") (
    input wire clk, input wire rst,
    input wire [SIMD*IN_BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [PE*OUT_BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam NF = MH / PE, SF = MW / SIMD;
    localparam NT = N_THR > 0 ? N_THR : 1;
    localparam FX = FIXES > 0 ? FIXES : 1;
    localparam FW = $clog2(NF * SF + 1), PW = $clog2(PIXELS + 1);
    localparam TERM = 2 + POW2_SHIFT_BITS;
    localparam G = SIMD < 16 ? SIMD : 16, GROUPS = (SIMD + G - 1) / G;
    // a group's sum: a popcount of G bits for XNOR, accumulator-wide otherwise
    localparam PBITS = KIND == `BNNCC_W_XNOR ? $clog2(G + 1) + 1 : ACC_BITS;

    // one product (or -|x - w|) of an input code and a weight code
    function signed [ACC_BITS-1:0] product(input [IN_BITS-1:0] xc, input [W_BITS-1:0] wc);
        reg signed [ACC_BITS-1:0] x, w, term;
        reg [TERM-1:0] code;
        integer t;
        begin
            if (IN_ENC == `BNNCC_ENC_BIPOLAR) x = xc[0] ? 1 : -1;
            else if (IN_ENC == `BNNCC_ENC_SIGNED) x = $signed(xc);
            else x = $signed({1'b0, xc});
            if (KIND == `BNNCC_W_XNOR) term = {{(ACC_BITS-1){1'b0}}, ~(xc[0] ^ wc[0])};
            else if (KIND == `BNNCC_W_BIPOLAR) term = wc[0] ? x : -x;
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
            product = term;
        end
    endfunction

    reg [SIMD*IN_BITS-1:0] vector [0:SF-1];
    reg [FW-1:0] sf, nf, waddr;
    reg [PW-1:0] px;
    reg out_valid_r;
    reg [PE*OUT_BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    wire need_in = nf == 0;
    wire fire = !stall && (!need_in || in_valid);
    assign in_ready = !stall && need_in;
    assign out_valid = out_valid_r;
    assign out_data = out_r;

    // stage 1
    reg [SIMD*IN_BITS-1:0] x_q;
    wire [PE*SIMD*W_BITS-1:0] w_q;
    bnncc_rom #(.WIDTH(PE*SIMD*W_BITS), .DEPTH(NF*SF), .FILE(W_FILE), .STYLE(W_STYLE))
        weights (.clk(clk), .en(fire), .addr(waddr), .data(w_q));
    always @(posedge clk) begin
        if (rst) begin
            sf <= 0; nf <= 0; px <= 0; waddr <= 0;
        end else if (fire) begin
            x_q <= need_in ? in_data : vector[sf];
            if (need_in) vector[sf] <= in_data;
            waddr <= (waddr == NF * SF - 1) ? 0 : waddr + 1;
            if (sf == SF - 1) begin
                sf <= 0;
                if (nf == NF - 1) begin
                    nf <= 0;
                    px <= (px == PIXELS - 1) ? 0 : px + 1;
                end else nf <= nf + 1;
            end else sf <= sf + 1;
        end
    end

    // stage 2: the operands registered again
    reg [SIMD*IN_BITS-1:0] x_r;
    reg [PE*SIMD*W_BITS-1:0] w_r;
    always @(posedge clk) if (!stall) begin
        x_r <= x_q;
        w_r <= w_q;
    end

    // per stage, whether it holds a fold, and the fold's first/last input fold and output fold
    reg [4:1] valid, first, last;
    reg [FW-1:0] nf_1, nf_2, nf_3;
    always @(posedge clk) begin
        if (rst) valid <= 0;
        else if (!stall) begin
            valid <= {valid[3] && last[3], valid[2:1], fire};
            first <= {first[3:1], sf == 0};
            last <= {last[3:1], sf == SF - 1};
            nf_1 <= nf; nf_2 <= nf_1; nf_3 <= nf_2;
        end
    end

    // stage 4 reads the threshold (or requantization) row of the result it registers
    wire result_in = !stall && valid[3] && last[3];
    wire [PE*NT*ACC_BITS-1:0] t_q;
    wire [PE-1:0] d_q;
    wire [PE*M_BITS-1:0] m_q;
    wire [PE*B_BITS-1:0] b_q;
    wire [PE*FX*ACC_BITS-1:0] fix_at_q;
    wire [PE*FX*FIX_BITS-1:0] fix_by_q;
    generate
        if (REQUANT && FIXES > 0) begin : corrections
            bnncc_rom #(.WIDTH(PE*FX*ACC_BITS), .DEPTH(NF), .FILE(X_FILE), .STYLE(X_STYLE))
                accumulators (.clk(clk), .en(result_in), .addr(nf_3), .data(fix_at_q));
            bnncc_rom #(.WIDTH(PE*FX*FIX_BITS), .DEPTH(NF), .FILE(Y_FILE), .STYLE(Y_STYLE))
                amounts (.clk(clk), .en(result_in), .addr(nf_3), .data(fix_by_q));
        end else begin : no_corrections
            assign fix_at_q = 0;
            assign fix_by_q = 0;
        end
    endgenerate
    generate
        if (REQUANT) begin : requantization
            bnncc_rom #(.WIDTH(PE*M_BITS), .DEPTH(NF), .FILE(M_FILE), .STYLE(M_STYLE))
                multipliers (.clk(clk), .en(result_in), .addr(nf_3), .data(m_q));
            bnncc_rom #(.WIDTH(PE*B_BITS), .DEPTH(NF), .FILE(B_FILE), .STYLE(B_STYLE))
                biases (.clk(clk), .en(result_in), .addr(nf_3), .data(b_q));
            assign t_q = 0;
            assign d_q = 0;
        end else begin : comparison
            bnncc_rom #(.WIDTH(PE*NT*ACC_BITS), .DEPTH(NF), .FILE(T_FILE), .STYLE(T_STYLE))
                thresholds (.clk(clk), .en(result_in), .addr(nf_3), .data(t_q));
            bnncc_rom #(.WIDTH(PE), .DEPTH(NF), .FILE(D_FILE), .STYLE(D_STYLE))
                directions (.clk(clk), .en(result_in), .addr(nf_3), .data(d_q));
            assign m_q = 0;
            assign b_q = 0;
        end
    endgenerate

    wire [PE*OUT_BITS-1:0] activated;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            // processes per PE, sensitive to their own registers only (an array would wake every PE)
            reg [GROUPS*PBITS-1:0] part, part_q;
            reg signed [PBITS-1:0] group;
            reg signed [ACC_BITS-1:0] acc, result, next;
            reg [$clog2(NT + 1):0] count;
            reg signed [PROD_BITS-1:0] scaled;
            integer g, s, k, f;
            always @* begin  // stage 3
                for (g = 0; g < GROUPS; g = g + 1) begin
                    group = 0;
                    for (s = 0; s < G; s = s + 1)
                        if (g * G + s < SIMD)
                            group = group + product(x_r[(g*G + s)*IN_BITS +: IN_BITS],
                                                    w_r[(p*SIMD + g*G + s)*W_BITS +: W_BITS]);
                    part[g*PBITS +: PBITS] = group;
                end
            end
            always @* begin  // stages 4 and 5
                next = first[3] ? 0 : acc;
                for (g = 0; g < GROUPS; g = g + 1) next = next + $signed(part_q[g*PBITS +: PBITS]);
                count = 0;
                for (k = 0; k < N_THR; k = k + 1)
                    count = count + (d_q[p] ? (result <= $signed(t_q[(p*NT + k)*ACC_BITS +: ACC_BITS]))
                                             : (result >= $signed(t_q[(p*NT + k)*ACC_BITS +: ACC_BITS])));
                scaled = ($signed(m_q[p*M_BITS +: M_BITS]) * result + $signed(b_q[p*B_BITS +: B_BITS])) >>> SHIFT;
                if (REQUANT) count = scaled < 0 ? 0 : (scaled > N_THR ? N_THR : scaled);
                for (f = 0; f < FIXES; f = f + 1)
                    if (result == $signed(fix_at_q[(p*FX + f)*ACC_BITS +: ACC_BITS]))
                        count = $signed({1'b0, count}) + $signed(fix_by_q[(p*FX + f)*FIX_BITS +: FIX_BITS]);
            end
            assign activated[p*OUT_BITS +: OUT_BITS] = N_THR == 0 ? result[OUT_BITS-1:0]
                : (OUT_ENC == `BNNCC_ENC_BIPOLAR ? count[OUT_BITS-1:0] : count + OUT_MIN);
            always @(posedge clk) begin
                if (!stall && valid[2]) part_q <= part;
                if (!stall && valid[3]) acc <= next;
                if (result_in) result <= next;
            end
        end
    endgenerate

    // stage 5
    always @(posedge clk) begin
        if (rst) out_valid_r <= 0;
        else if (!stall) begin
            out_valid_r <= valid[4];
            if (valid[4]) out_r <= activated;
        end
    end
endmodule
