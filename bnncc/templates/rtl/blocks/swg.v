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
    // reader counters: output pixel (oy, ox), kernel position (ky, kx), channel fold cf; the window's top
    // left pixel (row0, col0) and word addresses kept as running sums, so no multiplier is needed
    localparam CW = $clog2(H + W + 2 * K + PAD_T + PAD_L + 2) + 2, AW = $clog2(2 * WORDS + 1) + 2;
    localparam integer ORIGIN0 = -(PAD_T * W + PAD_L) * CF, ROW_STEP = STRIDE * W * CF, COL_STEP = STRIDE * CF;
    reg [$clog2(OH + 1)-1:0] oy;
    reg [$clog2(OW + 1)-1:0] ox;
    reg [$clog2(K + 1)-1:0] ky, kx;
    reg [$clog2(CF + 1)-1:0] cf;
    reg signed [CW-1:0] row0, col0;
    reg signed [AW-1:0] orow, origin, krow, koff;
    reg out_valid_r, pad_q;
    reg [SIMD*BITS-1:0] word_q;
    wire stall = out_valid_r && !out_ready;
    wire signed [CW-1:0] iy = row0 + $signed({1'b0, ky});
    wire signed [CW-1:0] ix = col0 + $signed({1'b0, kx});
    wire pad = iy < 0 || iy >= H || ix < 0 || ix >= W;
    wire [AW-1:0] rbase = rbank ? WORDS : 0;
    wire [AW-1:0] raddr = rbase + origin + koff + cf;
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
            row0 <= -PAD_T; col0 <= -PAD_L; orow <= ORIGIN0; origin <= ORIGIN0; krow <= 0; koff <= 0;
        end else begin
            if (in_valid && in_ready) begin
                frame[(wbank ? WORDS : 0) + waddr] <= in_data;
                if (waddr == WORDS - 1) begin
                    waddr <= 0;
                    wbank <= ~wbank;
                end else waddr <= waddr + 1;
            end
            if (!stall) begin
                out_valid_r <= reading;
                if (reading) begin
                    pad_q <= pad;
                    word_q <= frame[pad ? rbase : raddr];
                    if (cf == CF - 1) begin
                        cf <= 0;
                        if (kx == K - 1) begin
                            kx <= 0;
                            if (ky == K - 1) begin
                                ky <= 0; krow <= 0; koff <= 0;
                                if (ox == OW - 1) begin
                                    ox <= 0; col0 <= -PAD_L;
                                    if (oy == OH - 1) begin
                                        oy <= 0; row0 <= -PAD_T; orow <= ORIGIN0; origin <= ORIGIN0;
                                    end else begin
                                        oy <= oy + 1; row0 <= row0 + STRIDE;
                                        orow <= orow + ROW_STEP; origin <= orow + ROW_STEP;
                                    end
                                end else begin
                                    ox <= ox + 1; col0 <= col0 + STRIDE; origin <= origin + COL_STEP;
                                end
                            end else begin
                                ky <= ky + 1; krow <= krow + W * CF; koff <= krow + W * CF;
                            end
                        end else begin
                            kx <= kx + 1; koff <= koff + CF;
                        end
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
