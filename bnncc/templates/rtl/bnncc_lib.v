// bnncc RTL library (Verilog-2005 subset accepted by Icarus 11, Yosys 0.23 and Verilator 5).
// Every block streams words with valid/ready handshakes (AXI-stream style). A block holds its
// result in an output register; when that register is full and not taken, the whole block stalls.
// Element i of a word sits at bits [i*BITS +: BITS]; encodings: 0 bipolar bit (1 <-> +1),
// 1 two's-complement signed, 2 unsigned (see io_format.json).
`default_nettype none

// ---------------------------------------------------------------------------------------------
// Synchronous FIFO, DEPTH words (any depth >= 2). Ready and valid come from registers only, so
// FIFOs break every combinational path between blocks.
module bnncc_fifo #(parameter WIDTH = 8, parameter DEPTH = 2) (
    input wire clk, input wire rst,
    input wire [WIDTH-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [WIDTH-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] rd, wr;
    reg [AW:0] count;
    wire push = in_valid && in_ready;
    wire pop = out_valid && out_ready;
    assign in_ready = count != DEPTH;
    assign out_valid = count != 0;
    assign out_data = mem[rd];
    always @(posedge clk) begin
        if (rst) begin
            rd <= 0; wr <= 0; count <= 0;
        end else begin
            if (push) begin
                mem[wr] <= in_data;
                wr <= (wr == DEPTH - 1) ? 0 : wr + 1;
            end
            if (pop) rd <= (rd == DEPTH - 1) ? 0 : rd + 1;
            count <= count + push - pop;
        end
    end
endmodule

// ---------------------------------------------------------------------------------------------
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
                if (KIND == 0) begin
                    for (s = 0; s < SIMD; s = s + 1) sum = sum + agree[s];
                end else begin
                    for (s = 0; s < SIMD; s = s + 1) begin
                        wc = w_q[(p*SIMD + s)*W_BITS +: W_BITS];
                        if (IN_ENC == 0) x = x_q[s*IN_BITS] ? 1 : -1;
                        else if (IN_ENC == 1) x = $signed(x_q[s*IN_BITS +: IN_BITS]);
                        else x = $signed({1'b0, x_q[s*IN_BITS +: IN_BITS]});
                        if (KIND == 1) term = wc[0] ? x : -x;                          // bipolar weight
                        else if (KIND == 2) term = (wc[1:0] == 2'b01) ? x : ((wc[1:0] == 2'b11) ? -x : 0);
                        else if (KIND == 3) term = x * $signed(wc);                     // integer weight
                        else if (KIND == 4) begin                                       // signed shifts, no multiplier
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
                : (OUT_ENC == 0 ? count[OUT_BITS-1:0] : count + OUT_MIN);
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

// ---------------------------------------------------------------------------------------------
// Standalone thresholds: PE accumulators per word in, PE codes out.
module bnncc_thresh #(
    parameter C = 4, parameter PE = 1, parameter PIXELS = 1, parameter IN_BITS = 8, parameter IN_ENC = 1,
    parameter ACC_BITS = 9, parameter N_THR = 1, parameter OUT_BITS = 1, parameter OUT_ENC = 0,
    parameter OUT_MIN = 0, parameter T_FILE = "t.mem", parameter D_FILE = "d.mem") (
    input wire clk, input wire rst,
    input wire [PE*IN_BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [PE*OUT_BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam NF = C / PE;
    reg [PE*N_THR*ACC_BITS-1:0] trom [0:NF-1];
    reg [PE-1:0] drom [0:NF-1];
    initial begin
        $readmemh(T_FILE, trom);
        $readmemh(D_FILE, drom);
    end
    reg [$clog2(NF + 1)-1:0] nf;
    reg out_valid_r;
    reg [PE*OUT_BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    assign in_ready = !stall;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    wire [PE*N_THR*ACC_BITS-1:0] t_row = trom[nf];
    wire [PE-1:0] d_row = drom[nf];
    wire [PE*OUT_BITS-1:0] activated;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            reg signed [ACC_BITS-1:0] a;
            reg [ACC_BITS:0] count;
            integer t;
            always @* begin
                if (IN_ENC == 1) a = $signed(in_data[p*IN_BITS +: IN_BITS]);
                else a = $signed({1'b0, in_data[p*IN_BITS +: IN_BITS]});
                count = 0;
                for (t = 0; t < N_THR; t = t + 1)
                    count = count + (d_row[p] ? (a <= $signed(t_row[(p*N_THR + t)*ACC_BITS +: ACC_BITS]))
                                              : (a >= $signed(t_row[(p*N_THR + t)*ACC_BITS +: ACC_BITS])));
            end
            assign activated[p*OUT_BITS +: OUT_BITS] = OUT_ENC == 0 ? count[OUT_BITS-1:0] : count + OUT_MIN;
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            out_valid_r <= 0; nf <= 0;
        end else if (!stall) begin
            out_valid_r <= in_valid;
            if (in_valid) begin
                out_r <= activated;
                nf <= (nf == NF - 1) ? 0 : nf + 1;
            end
        end
    end
endmodule

// ---------------------------------------------------------------------------------------------
// Sliding-window generator: a writer stores NHWC frames (SIMD channels per word) into two banks,
// a reader emits windows in (kh, kw, c) order from the other bank; PAD_CODE outside the frame.
module bnncc_swg #(
    parameter H = 4, parameter W = 4, parameter C = 1, parameter K = 3, parameter STRIDE = 1,
    parameter PAD_T = 0, parameter PAD_L = 0, parameter OH = 2, parameter OW = 2, parameter SIMD = 1,
    parameter BITS = 1, parameter PAD_CODE = 0) (
    input wire clk, input wire rst,
    input wire [SIMD*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [SIMD*BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam CF = C / SIMD, WORDS = H * W * CF;
    reg [SIMD*BITS-1:0] frame [0:2*WORDS-1];
    reg [1:0] full;
    reg wbank, rbank;
    reg [$clog2(WORDS + 1)-1:0] waddr;
    // writer
    assign in_ready = !full[wbank];
    // reader counters: output pixel (oy, ox), kernel position (ky, kx), channel fold cf
    reg [$clog2(OH + 1)-1:0] oy;
    reg [$clog2(OW + 1)-1:0] ox;
    reg [$clog2(K + 1)-1:0] ky, kx;
    reg [$clog2(CF + 1)-1:0] cf;
    reg out_valid_r, pad_q;
    reg [SIMD*BITS-1:0] word_q;
    wire stall = out_valid_r && !out_ready;
    wire [31:0] iy = oy * STRIDE + ky - PAD_T;
    wire [31:0] ix = ox * STRIDE + kx - PAD_L;
    wire pad = $signed(iy) < 0 || $signed(iy) >= H || $signed(ix) < 0 || $signed(ix) >= W;
    wire [31:0] raddr = rbank * WORDS + (iy * W + ix) * CF + cf;
    wire reading = full[rbank] && !stall;
    wire last = oy == OH - 1 && ox == OW - 1 && ky == K - 1 && kx == K - 1 && cf == CF - 1;
    localparam [BITS-1:0] PAD = PAD_CODE;
    wire [SIMD*BITS-1:0] pad_word = {SIMD{PAD}};
    assign out_valid = out_valid_r;
    assign out_data = pad_q ? pad_word : word_q;
    always @(posedge clk) begin
        if (rst) begin
            full <= 0; wbank <= 0; rbank <= 0; waddr <= 0;
            oy <= 0; ox <= 0; ky <= 0; kx <= 0; cf <= 0; out_valid_r <= 0;
        end else begin
            if (in_valid && in_ready) begin
                frame[wbank * WORDS + waddr] <= in_data;
                if (waddr == WORDS - 1) begin
                    waddr <= 0;
                    wbank <= ~wbank;
                end else waddr <= waddr + 1;
            end
            if (!stall) begin
                out_valid_r <= reading;
                if (reading) begin
                    pad_q <= pad;
                    word_q <= frame[pad ? rbank * WORDS : raddr];
                    if (cf == CF - 1) begin
                        cf <= 0;
                        if (kx == K - 1) begin
                            kx <= 0;
                            if (ky == K - 1) begin
                                ky <= 0;
                                if (ox == OW - 1) begin
                                    ox <= 0;
                                    oy <= (oy == OH - 1) ? 0 : oy + 1;
                                end else ox <= ox + 1;
                            end else ky <= ky + 1;
                        end else kx <= kx + 1;
                    end else cf <= cf + 1;
                end
            end
            // bank bookkeeping: a bank fills when its last word is written, empties after its last window
            full <= (full | ((in_valid && in_ready && waddr == WORDS - 1) ? (2'b01 << wbank) : 2'b00))
                    & ~((reading && last) ? (2'b01 << rbank) : 2'b00);
            if (reading && last) rbank <= ~rbank;
        end
    end
endmodule

// ---------------------------------------------------------------------------------------------
// Max-pool K x K, stride K, streaming: a running maximum per output column of the current row.
module bnncc_maxpool #(
    parameter H = 4, parameter W = 4, parameter C = 1, parameter K = 2, parameter OH = 2, parameter OW = 2,
    parameter PE = 1, parameter BITS = 1, parameter ENC = 0) (
    input wire clk, input wire rst,
    input wire [PE*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [PE*BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam CF = C / PE;
    reg [PE*BITS-1:0] rows [0:OW*CF-1];
    reg [$clog2(CF + 1)-1:0] cf;
    reg [$clog2(W + 1)-1:0] x, kx, ox;
    reg [$clog2(H + 1)-1:0] y, ky;
    reg out_valid_r;
    reg [PE*BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    assign in_ready = !stall;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    wire in_window = (y < OH * K) && (x < OW * K);
    wire first = ky == 0 && kx == 0;
    wire [PE*BITS-1:0] best = rows[ox * CF + cf];
    wire [PE*BITS-1:0] merged;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            wire [BITS-1:0] v = in_data[p*BITS +: BITS];
            wire [BITS-1:0] b = best[p*BITS +: BITS];
            wire greater = ENC == 0 ? (v[0] & ~b[0]) : (ENC == 1 ? ($signed(v) > $signed(b)) : (v > b));
            assign merged[p*BITS +: BITS] = (first || greater) ? v : b;
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            cf <= 0; x <= 0; y <= 0; kx <= 0; ky <= 0; ox <= 0; out_valid_r <= 0;
        end else if (!stall) begin
            out_valid_r <= in_valid && in_window && ky == K - 1 && kx == K - 1;
            if (in_valid) begin
                if (in_window) begin
                    rows[ox * CF + cf] <= merged;
                    out_r <= merged;
                end
                if (cf == CF - 1) begin
                    cf <= 0;
                    if (x == W - 1) begin
                        x <= 0; kx <= 0; ox <= 0;
                        y <= (y == H - 1) ? 0 : y + 1;
                        ky <= (y == H - 1 || ky == K - 1) ? 0 : ky + 1;
                    end else begin
                        x <= x + 1;
                        kx <= (kx == K - 1) ? 0 : kx + 1;
                        ox <= (kx == K - 1) ? ox + 1 : ox;
                    end
                end else cf <= cf + 1;
            end
        end
    end
endmodule

// ---------------------------------------------------------------------------------------------
// Label select: index of the largest of CLASSES values (ties to the lowest index).
module bnncc_labelselect #(
    parameter CLASSES = 10, parameter PE = 1, parameter BITS = 8, parameter ENC = 1, parameter OUT_BITS = 4) (
    input wire clk, input wire rst,
    input wire [PE*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [OUT_BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam N = CLASSES / PE;
    reg [$clog2(N + 1)-1:0] i;
    reg signed [BITS+1:0] best;
    reg [OUT_BITS-1:0] best_index;
    reg out_valid_r;
    reg [OUT_BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    assign in_ready = !stall;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    reg signed [BITS+1:0] b, v;
    reg [OUT_BITS-1:0] bi;
    integer p;
    always @* begin
        b = best;
        bi = best_index;
        for (p = 0; p < PE; p = p + 1) begin
            if (ENC == 1) v = $signed(in_data[p*BITS +: BITS]);
            else v = $signed({2'b0, in_data[p*BITS +: BITS]});
            if ((i == 0 && p == 0) || v > b) begin
                b = v;
                bi = i * PE + p;
            end
        end
    end
    always @(posedge clk) begin
        if (rst) begin
            i <= 0; out_valid_r <= 0;
        end else if (!stall) begin
            out_valid_r <= in_valid && i == N - 1;
            if (in_valid) begin
                best <= b;
                best_index <= bi;
                if (i == N - 1) begin
                    i <= 0;
                    out_r <= bi;
                end else i <= i + 1;
            end
        end
    end
endmodule

// ---------------------------------------------------------------------------------------------
// Data-width converter: IN lanes per input word -> OUT lanes per output word, G = gcd lanes per
// cycle.
module bnncc_dwc #(parameter IN = 1, parameter OUT = 1, parameter BITS = 1, parameter G = 1) (
    input wire clk, input wire rst,
    input wire [IN*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [OUT*BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    reg [$clog2(IN + 1)-1:0] in_pos;
    reg [$clog2(OUT + 1)-1:0] out_pos;
    reg [OUT*BITS-1:0] acc;
    reg out_valid_r;
    reg [OUT*BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    // consume the input word with its last group
    assign in_ready = !stall && in_pos + G == IN;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    wire [G*BITS-1:0] group = in_data[in_pos*BITS +: G*BITS];
    reg [OUT*BITS-1:0] filled;
    always @* begin
        filled = acc;
        filled[out_pos*BITS +: G*BITS] = group;
    end
    always @(posedge clk) begin
        if (rst) begin
            in_pos <= 0; out_pos <= 0; out_valid_r <= 0;
        end else if (!stall) begin
            out_valid_r <= in_valid && out_pos + G == OUT;
            if (in_valid) begin
                acc <= filled;
                if (out_pos + G == OUT) out_r <= filled;
                in_pos <= (in_pos + G == IN) ? 0 : in_pos + G;
                out_pos <= (out_pos + G == OUT) ? 0 : out_pos + G;
            end
        end
    end
endmodule

`default_nettype wire
