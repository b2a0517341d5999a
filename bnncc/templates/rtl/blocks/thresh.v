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
                if (IN_ENC == `BNNCC_ENC_SIGNED) a = $signed(in_data[p*IN_BITS +: IN_BITS]);
                else a = $signed({1'b0, in_data[p*IN_BITS +: IN_BITS]});
                count = 0;
                for (t = 0; t < N_THR; t = t + 1)
                    count = count + (d_row[p] ? (a <= $signed(t_row[(p*N_THR + t)*ACC_BITS +: ACC_BITS]))
                                              : (a >= $signed(t_row[(p*N_THR + t)*ACC_BITS +: ACC_BITS])));
            end
            assign activated[p*OUT_BITS +: OUT_BITS] = OUT_ENC == `BNNCC_ENC_BIPOLAR ? count[OUT_BITS-1:0]
                                                                                : count + OUT_MIN;
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
